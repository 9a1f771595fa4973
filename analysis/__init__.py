"""LoanFlow analysis package: pure functions over DataFrames plus the SQLite store."""
