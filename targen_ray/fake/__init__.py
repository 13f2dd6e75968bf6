"""The fake OpenAI/Anthropic provider used by tests, benchmarks and offline demos."""
