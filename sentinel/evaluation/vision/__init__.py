"""Vision-language judges: a model on an OpenAI-compatible or Anthropic endpoint answers the rubric's `ask`s."""
