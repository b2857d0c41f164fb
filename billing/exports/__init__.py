"""Exchanges of billing: SEPA direct debit files, the accounting journal and titles."""
