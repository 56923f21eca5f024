"""pytest entry point (``pytest11``) for TinyTorch. The plugin arrives in its own issue."""
