"""The content reader: files and remote feeds in, ``Article`` values out."""
