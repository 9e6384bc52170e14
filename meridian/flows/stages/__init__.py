"""Lifecycle stages: pipelines of stages per form, gates that hold every path, stage history
and stage SLAs — the stage half of the process engine (see ``docs/stages.md``)."""
