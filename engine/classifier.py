"""Former home of the celebrity model; its names now live in engine.celebrities."""

from engine.celebrities import (  # noqa: F401
    Celebrities,
    Celebrity,
    ModelWatcher,
    Prediction,
    atomic_write,
    display_name,
    gallery_file_name,
    model_paths,
)
