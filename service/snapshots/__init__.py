"""Signed transparency snapshots (docs/transparency.md, "Snapshots"): service.py takes, signs,
stores and proves them; models.py holds them."""
