"""Hash-chained, append-only audit trail (see docs/adr/0007-audit-chain.md).

``model`` (events, chain hashing, verification), ``store`` (tables, append under the head lock),
``service`` (record_event, verify, accesses_to).
"""
