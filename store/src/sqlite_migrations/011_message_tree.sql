-- Messages form a tree (API.md §7, branches): each message names its parent, the
-- message it follows. Rows written before this have none; the domain derives
-- their parents from the order they were written in (conversation::tree).
ALTER TABLE messages ADD COLUMN parent_id TEXT;
