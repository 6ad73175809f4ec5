"""Reports over finished run folders, read through `hierl.run.folder.RunFolder`.

`runs` finds run folders and reads what each says about itself, `table` ranks them into one table (with the
deflated Sharpe ratio), `render` prints, saves and plots that table (`hierl.compare`); `headline` and
`warm_start_study` build the generated results of docs/results/ from a pipeline's or a study's run folders.
Nothing is imported here, so importing one report does not import the others.
"""
