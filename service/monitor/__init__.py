"""The supervisor's monitor (`ushk monitor`): an independent auditor that reads only public
sources (the token over JSON-RPC, the service's public transparency endpoints), applies the rules
of config/monitor-rules.yaml and appends its findings to a Merkle log of its own (docs/monitor.md).
It imports none of the service's database, settings or workflow code."""
