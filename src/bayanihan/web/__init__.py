"""HTTP: the TAXII 2.1 server, the REST API and the pages people see."""
