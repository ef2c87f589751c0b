"""rpa-agent's application: surfaces (Slack, terminal), the conversation service, the agent, the model."""

__version__ = "0.1.0"
