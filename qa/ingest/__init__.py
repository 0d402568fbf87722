"""Reading articles: Markdown files with front matter → `Article` records → passages (`Chunk`s)."""
