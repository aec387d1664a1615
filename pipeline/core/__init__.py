"""The ground floor every other layer stands on: errors, typed params and their one loader,
artifact paths and atomic writes, the task, the table schema's rules, row hashing, seeded
sampling and shared facts about tables. Imports nothing else of `pipeline`."""
