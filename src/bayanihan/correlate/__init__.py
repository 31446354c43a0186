"""Correlation: observables extracted from objects, normalised, indexed once per value.

A match between objects of different organisations raises a hit; each viewer sees
a hit only through objects the policy lets it see.
"""
