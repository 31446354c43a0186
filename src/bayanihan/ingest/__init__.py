"""Intake: turning submitted STIX into stored object versions, and file importers."""
