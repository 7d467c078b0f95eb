"""Functional tests: real ansible-playbook runs.

A package, so that test file names may repeat the unit tests' names.
"""
