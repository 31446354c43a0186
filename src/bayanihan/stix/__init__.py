"""STIX 2.1: parsing, validation and the fixed identifiers the project builds on."""
