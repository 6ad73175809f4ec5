"""Feature families of the Gold layer: technical, sentiment, macro and regime. Every feature is causal: its
value on day t uses only data published at or before the close of t."""
