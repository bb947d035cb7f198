"""Evaluation: the GROUND protocol (protocol), runs over scene folders (runs), tables and reports."""
