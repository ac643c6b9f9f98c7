"""Imported only by the preload test: its presence in sys.modules shows a preload ran."""
