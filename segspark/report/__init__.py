"""What a run reports: takes the segmented customers, their profiles and the run's counts; gives
report.html with its charts (`report`, `charts`, `profiles`, `naming`, `pseudonyms`), summary.json
(`summary`) and the model's metadata that scoring checks (`artifact`)."""
