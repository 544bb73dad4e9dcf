"""Ray Train and Ray Tune glue shared by every system (see ../shared/DESIGN.md, room `training/`)."""
