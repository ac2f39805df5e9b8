"""`orps review`: how a review of a change (`runners.review`) is shown: text, Markdown for a
pull-request comment, the JSON document, and the TUI screen."""
