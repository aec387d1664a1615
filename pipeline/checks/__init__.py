"""validate's machinery: reading the user's file in batches, typing its columns, the Great
Expectations rules, cleaning, the size rules and the validation report; schema drafting; and
the same checks for new rows at predict time."""
