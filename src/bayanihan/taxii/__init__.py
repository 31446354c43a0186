"""TAXII 2.1 service logic, independent of the HTTP framework that serves it."""

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
# How a request without a valid key is told to authenticate.
CHALLENGE = 'Basic realm="bayanihan", Bearer realm="bayanihan"'
