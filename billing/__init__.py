"""Billing: subscribers, contracts, tariffs, bill runs, invoices, documents and exchanges."""
