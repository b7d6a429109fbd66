"""The domain: no Discord, no database. Shared types, the rules, the request flow, the waiting
line, the watcher, the model catalog and image fitting; ports (bot.core.ports) for the rest."""
