"""A run and its folder: `folder` (the run-folder contract: every file name, read and written in one place) and
`lifecycle` (the steps every training stage goes through).

Nothing is imported here, so `from hierl.run.folder import RunFolder` stays cheap for report code.
"""
