"""Tasks (待办): a title, an assignee, a due time, open/done/cancelled, a linked record — made
by people, by a stage's SOP items or by a rule (``service``), who may see and change them
(``access``), and the once-per-task overdue notice (``overdue``)."""
