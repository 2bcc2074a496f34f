"""Household import from XLSX (issue 15, part 1): template, dry run, all-or-nothing import
in batches the county can undo. Rules in services.py, the sheets' columns in columns.py."""
