"""The REST face (Litestar): portal intake, agency EDMS pull, operators."""
