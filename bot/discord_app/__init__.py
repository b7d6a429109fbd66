"""Everything that imports discord: the client, the error funnel, buttons and modals, rendering,
delivery, status messages and the audit channel."""
