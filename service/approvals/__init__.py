"""Four eyes: the actions a four-eyes request performs once approved (service/approvals/service.py);
the requests themselves are stored by service/banks/approvals.py."""
