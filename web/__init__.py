"""The web app: JSON API, article pages and the chat page."""
