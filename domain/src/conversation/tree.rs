//! A chat's messages as a tree (API.md §7, branches): every message follows its
//! parent; a branch is the path from a first message to a leaf, and the chat's
//! active branch is the set of messages not `superseded`. Editing a question as a
//! new branch, switching branches and regenerating are computed here, over the
//! messages the store holds, as which messages go on and off the active branch;
//! the store applies that in one step (`Messages::switch_branch`).
//!
//! Messages stored before the tree existed name no parent. Theirs is derived from
//! the order they were written in, the way that chat was shown then: a reply
//! follows the question it answers; a question follows the newest reply (of any
//! version) to the question before it that existed when it was asked, or that
//! question itself. The rule reads no `superseded` flag, so a derived parent never
//! moves when branches are switched.

use std::collections::HashMap;
use uuid::Uuid;

use crate::store::{Message, Page, Role, ROOT_PARENT};

pub struct Tree {
    /// Oldest first (`created_at`, then id): a parent always comes before its
    /// children, so every walk up ends.
    messages: Vec<Message>,
    parents: Vec<Option<usize>>,
    index: HashMap<Uuid, usize>,
}

/// Where a message sits among its siblings (the messages with the same parent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub parent_id: Option<Uuid>,
    /// 1-based, oldest sibling first.
    pub index: usize,
    pub count: usize,
    /// Every sibling's id, this message's included, oldest first.
    pub sibling_ids: Vec<Uuid>,
}

/// The messages a switch puts on the active branch and takes off it.
#[derive(Debug, Default)]
pub struct Switch {
    pub on: Vec<Message>,
    pub off: Vec<Message>,
}

impl Switch {
    pub fn is_empty(&self) -> bool {
        self.on.is_empty() && self.off.is_empty()
    }
}

impl Tree {
    /// The tree of a chat's messages, as `Messages::chat_messages` lists them.
    pub fn new(mut messages: Vec<Message>) -> Self {
        messages.sort_by_key(|m| (m.created_at, m.id));
        let index: HashMap<Uuid, usize> = messages.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        let mut parents = Vec::with_capacity(messages.len());
        let mut last_question: Option<usize> = None;
        // The newest reply so far to each question, for the derived parents.
        let mut newest_reply: HashMap<Uuid, usize> = HashMap::new();
        for (i, message) in messages.iter().enumerate() {
            let earlier = |id: Uuid| index.get(&id).copied().filter(|&p| p < i);
            let known = |id: Uuid| index.get(&id).copied().filter(|&p| p != i);
            // Written before the tree (or naming a message not in it): derived.
            let derived = || match message.role {
                Role::Assistant => message.reply_to.and_then(earlier).or(i.checked_sub(1)),
                Role::User => last_question.map(|q| newest_reply.get(&messages[q].id).copied().unwrap_or(q)),
            };
            let parent = match message.parent_id {
                Some(ROOT_PARENT) => None,
                // A stored parent may be newer than its child: a question that
                // followed a reply answered again follows the new reply.
                Some(stored) => known(stored).or_else(derived),
                None => derived(),
            };
            parents.push(parent);
            match message.role {
                Role::User => last_question = Some(i),
                Role::Assistant => {
                    if let Some(to) = message.reply_to {
                        newest_reply.insert(to, i);
                    }
                }
            }
        }
        cut_cycles(&mut parents);
        Self {
            messages,
            parents,
            index,
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn get(&self, id: Uuid) -> Option<&Message> {
        self.index.get(&id).map(|&i| &self.messages[i])
    }

    /// The active branch from its first message to its last. A regenerated reply
    /// is newer than what followed its question, so this is the path's order, not
    /// time's; only where the active messages are not one path (two questions sent
    /// to one chat at the same moment, both following the same message) are they
    /// listed oldest first.
    pub fn active(&self) -> Vec<&Message> {
        let active: Vec<&Message> = self.messages.iter().filter(|m| !m.superseded).collect();
        if let [leaf] = self.active_leaves()[..] {
            let path = self.path_to(self.messages[leaf].id);
            if path.len() == active.len() && path.iter().all(|m| !m.superseded) {
                return path;
            }
        }
        active
    }

    /// The active branch's last message: the newest active message that no active
    /// message follows (a reply regenerated after what followed it is not one).
    pub fn leaf(&self) -> Option<&Message> {
        self.active_leaves().last().map(|&i| &self.messages[i])
    }

    /// The active messages no active message follows, oldest first: one on a
    /// single active branch.
    fn active_leaves(&self) -> Vec<usize> {
        let mut followed = vec![false; self.messages.len()];
        for (i, message) in self.messages.iter().enumerate() {
            if let (false, Some(parent)) = (message.superseded, self.parents[i]) {
                followed[parent] = true;
            }
        }
        (0..self.messages.len())
            .filter(|&i| !self.messages[i].superseded && !followed[i])
            .collect()
    }

    /// What the model sees before answering `id`: the path to it, newest first,
    /// at most `cap` messages.
    pub fn context_of(&self, id: Uuid, cap: usize) -> Vec<Message> {
        self.path_to(id).into_iter().rev().take(cap).cloned().collect()
    }

    pub fn parent_of(&self, id: Uuid) -> Option<Uuid> {
        let i = *self.index.get(&id)?;
        self.parents[i].map(|p| self.messages[p].id)
    }

    pub fn placement(&self, id: Uuid) -> Option<Placement> {
        let i = *self.index.get(&id)?;
        let parent = self.parents[i];
        let sibling_ids: Vec<Uuid> = (0..self.messages.len())
            .filter(|&j| self.parents[j] == parent)
            .map(|j| self.messages[j].id)
            .collect();
        let index = sibling_ids.iter().position(|&s| s == id)? + 1;
        Some(Placement {
            parent_id: parent.map(|p| self.messages[p].id),
            index,
            count: sibling_ids.len(),
            sibling_ids,
        })
    }

    /// The messages from the chat's first to `id`, in order.
    pub fn path_to(&self, id: Uuid) -> Vec<&Message> {
        let mut path = Vec::new();
        let mut at = self.index.get(&id).copied();
        while let Some(i) = at {
            path.push(&self.messages[i]);
            at = self.parents[i];
        }
        path.reverse();
        path
    }

    fn descends_from(&self, mut i: usize, ancestor: usize) -> bool {
        // Acyclic (`cut_cycles`): every walk up ends at a first message.
        while let Some(parent) = self.parents[i] {
            if parent == ancestor {
                return true;
            }
            i = parent;
        }
        false
    }

    /// The newest message under `id` (itself when it has none): the leaf of the
    /// branch through it that `PUT …/active/` makes active.
    pub fn newest_descendant(&self, id: Uuid) -> Option<&Message> {
        let top = *self.index.get(&id)?;
        let newest = (0..self.messages.len())
            .rev()
            .find(|&i| i == top || self.descends_from(i, top))
            .unwrap_or(top);
        Some(&self.messages[newest])
    }

    /// The active messages that follow `id` directly.
    pub fn active_children(&self, id: Uuid) -> Vec<Message> {
        let Some(&top) = self.index.get(&id) else {
            return Vec::new();
        };
        (0..self.messages.len())
            .filter(|&i| self.parents[i] == Some(top) && !self.messages[i].superseded)
            .map(|i| self.messages[i].clone())
            .collect()
    }

    /// What answering `question` again changes (regenerate, edit with regenerate):
    /// its current replies, which the new one supersedes, and the active messages
    /// that followed them, which then follow the new reply, so a conversation that
    /// went on after the question goes on after its new answer.
    pub fn answered_again(&self, question: Uuid) -> (Vec<Message>, Vec<Message>) {
        let replies: Vec<Message> = self
            .active_children(question)
            .into_iter()
            .filter(|m| m.role == Role::Assistant)
            .collect();
        let followers = replies.iter().flat_map(|r| self.active_children(r.id)).collect();
        (replies, followers)
    }

    /// What makes the path from the chat's first message to `leaf` (none: an empty
    /// branch, for a new first message) the active branch.
    pub fn switch_to(&self, leaf: Option<Uuid>) -> Switch {
        let path: Vec<Uuid> = leaf.map_or_else(Vec::new, |leaf| self.path_to(leaf).iter().map(|m| m.id).collect());
        let on_path = |m: &Message| path.contains(&m.id);
        Switch {
            on: self
                .messages
                .iter()
                .filter(|m| m.superseded && on_path(m))
                .cloned()
                .collect(),
            off: self
                .messages
                .iter()
                .filter(|m| !m.superseded && !on_path(m))
                .cloned()
                .collect(),
        }
    }
}

/// Makes a first message of any message whose walk up would never end: stored
/// parents only ever point to a message written earlier or to a reply that
/// replaced one, so only a damaged record can close a loop.
fn cut_cycles(parents: &mut [Option<usize>]) {
    // 0: not seen, 1: on the walk under way, 2: known to reach a first message.
    let mut state = vec![0u8; parents.len()];
    for start in 0..parents.len() {
        let mut walk = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match state[i] {
                2 => break,
                1 => {
                    parents[i] = None;
                    break;
                }
                _ => {
                    state[i] = 1;
                    walk.push(i);
                    at = parents[i];
                }
            }
        }
        for i in walk {
            state[i] = 2;
        }
    }
}

/// A page of `records` (in their order): at most `page.limit` records after the
/// cursor's message. A cursor that is no longer among them (a branch switched
/// meanwhile) continues after its time (`created_at`, then id); one that names no
/// message of the tree gives nothing.
pub fn page_of<'a>(tree: &Tree, records: Vec<&'a Message>, page: Page) -> Vec<&'a Message> {
    let Some(after) = page.after else {
        return records.into_iter().take(page.limit).collect();
    };
    if let Some(at) = records.iter().position(|m| m.id == after) {
        return records.into_iter().skip(at + 1).take(page.limit).collect();
    }
    let Some(cursor) = tree.get(after) else {
        return Vec::new();
    };
    let after = (cursor.created_at, cursor.id);
    records
        .into_iter()
        .filter(|m| (m.created_at, m.id) > after)
        .take(page.limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::new_message;
    use chrono::{Duration, TimeZone, Utc};

    /// Messages written one second apart, in the order given.
    struct Chat {
        id: Uuid,
        messages: Vec<Message>,
    }

    impl Chat {
        fn new() -> Self {
            Self {
                id: Uuid::now_v7(),
                messages: Vec::new(),
            }
        }

        fn add(&mut self, role: Role, content: &str, parent: Option<Uuid>, reply_to: Option<Uuid>) -> Uuid {
            let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(self.messages.len() as i64);
            let mut m = new_message(self.id, role, content.into(), at);
            m.parent_id = parent;
            m.reply_to = reply_to;
            let id = m.id;
            self.messages.push(m);
            id
        }

        /// A legacy exchange: nothing names a parent.
        fn legacy(&mut self, question: &str, answer: Option<&str>) -> (Uuid, Option<Uuid>) {
            let q = self.add(Role::User, question, None, None);
            let a = answer.map(|a| self.add(Role::Assistant, a, None, Some(q)));
            (q, a)
        }

        fn supersede(&mut self, id: Uuid) {
            self.messages.iter_mut().find(|m| m.id == id).unwrap().superseded = true;
        }

        fn tree(&self) -> Tree {
            // The store's order is not trusted: the tree sorts.
            let mut shuffled = self.messages.clone();
            shuffled.reverse();
            Tree::new(shuffled)
        }
    }

    fn contents<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<&'a str> {
        messages.into_iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn a_chat_written_before_the_tree_is_one_branch_with_reply_versions_as_siblings() {
        let mut chat = Chat::new();
        let (q1, a1) = chat.legacy("q1", Some("a1"));
        // q1 was answered again: a1 superseded by a1b.
        let a1b = chat.add(Role::Assistant, "a1b", None, Some(q1));
        chat.supersede(a1.unwrap());
        // A question whose model failed: no reply.
        let (q2, _) = chat.legacy("q2", None);
        let (q3, a3) = chat.legacy("q3", Some("a3"));
        let tree = chat.tree();
        assert_eq!(contents(tree.active()), ["q1", "a1b", "q2", "q3", "a3"]);
        assert_eq!(tree.parent_of(q1), None);
        assert_eq!(tree.parent_of(a1b), Some(q1));
        // The newest reply before it, whichever version is current.
        assert_eq!(tree.parent_of(q2), Some(a1b));
        assert_eq!(tree.parent_of(q3), Some(q2));
        assert_eq!(tree.parent_of(a3.unwrap()), Some(q3));
        let versions = tree.placement(a1b).unwrap();
        assert_eq!((versions.index, versions.count), (2, 2));
        assert_eq!(versions.sibling_ids, vec![a1.unwrap(), a1b]);
        // The path to the last reply is the whole active branch.
        assert_eq!(contents(tree.path_to(a3.unwrap())), ["q1", "a1b", "q2", "q3", "a3"]);
        assert!(tree.switch_to(a3).is_empty());
    }

    #[test]
    fn a_question_asked_before_a_later_regeneration_keeps_the_reply_it_followed() {
        let mut chat = Chat::new();
        let (q1, a1) = chat.legacy("q1", Some("a1"));
        let (q2, _) = chat.legacy("q2", Some("a2"));
        // q1 answered again after q2 was asked (an edit with regenerate).
        chat.add(Role::Assistant, "a1b", None, Some(q1));
        let tree = chat.tree();
        assert_eq!(tree.parent_of(q2), a1);
    }

    #[test]
    fn a_new_branch_switches_the_path_and_switching_back_restores_it() {
        let mut chat = Chat::new();
        let (q1, a1) = chat.legacy("q1", Some("a1"));
        let q2 = chat.add(Role::User, "q2", a1, None);
        let a2 = chat.add(Role::Assistant, "a2", Some(q2), Some(q2));
        let q3 = chat.add(Role::User, "q3", Some(a2), None);
        // q2 edited as a new branch: a sibling with the same parent.
        let tree = chat.tree();
        let switch = tree.switch_to(tree.parent_of(q2));
        assert!(switch.on.is_empty());
        assert_eq!(contents(&switch.off), ["q2", "a2", "q3"]);
        let q2b = chat.add(Role::User, "q2b", a1, None);
        for m in &switch.off {
            chat.supersede(m.id);
        }
        let a2b = chat.add(Role::Assistant, "a2b", Some(q2b), Some(q2b));
        let tree = chat.tree();
        assert_eq!(contents(tree.active()), ["q1", "a1", "q2b", "a2b"]);
        let placement = tree.placement(q2b).unwrap();
        assert_eq!((placement.index, placement.count), (2, 2));
        assert_eq!(placement.sibling_ids, vec![q2, q2b]);
        assert_eq!(placement.parent_id, a1);

        // Back to the first branch: its newest message is the leaf.
        let leaf = tree.newest_descendant(q2).unwrap().id;
        assert_eq!(leaf, q3);
        let back = tree.switch_to(Some(leaf));
        assert_eq!(contents(&back.on), ["q2", "a2", "q3"]);
        assert_eq!(contents(&back.off), ["q2b", "a2b"]);
        // A message with nothing under it is its own leaf; the root's leaf is the newest.
        assert_eq!(tree.newest_descendant(a2b).unwrap().id, a2b);
        assert_eq!(tree.newest_descendant(q1).unwrap().id, a2b);
        // What answering q2b again replaces: its reply, followed by nothing.
        let (replies, followers) = tree.answered_again(q2b);
        assert_eq!((contents(&replies), contents(&followers)), (vec!["a2b"], vec![]));
        let _ = a2;
    }

    #[test]
    fn answering_an_earlier_question_again_keeps_what_followed_it_after_the_new_reply() {
        let mut chat = Chat::new();
        let (q1, a1) = chat.legacy("q1", Some("a1"));
        let (q2, a2) = chat.legacy("q2", Some("a2"));
        let tree = chat.tree();
        let (replies, followers) = tree.answered_again(q1);
        assert_eq!((contents(&replies), contents(&followers)), (vec!["a1"], vec!["q2"]));
        // As the store applies it: a1 superseded, q2 follows the new reply.
        let a1b = chat.add(Role::Assistant, "a1b", Some(q1), Some(q1));
        chat.supersede(a1.unwrap());
        chat.messages.iter_mut().find(|m| m.id == q2).unwrap().parent_id = Some(a1b);
        let tree = chat.tree();
        // The active branch in the path's order, though a1b is the newest message.
        assert_eq!(contents(tree.active()), ["q1", "a1b", "q2", "a2"]);
        assert_eq!(tree.placement(a1b).unwrap().sibling_ids, vec![a1.unwrap(), a1b]);
        assert_eq!(tree.newest_descendant(q1).unwrap().id, a1b);
        assert_eq!(tree.leaf().unwrap().content, "a2", "not a1b, the newest");
        let context: Vec<String> = tree.context_of(a2.unwrap(), 3).into_iter().map(|m| m.content).collect();
        assert_eq!(context, ["a2", "q2", "a1b"]);
        // Paging follows that order.
        let page = page_of(
            &tree,
            tree.active(),
            Page {
                limit: 10,
                after: Some(a1b),
            },
        );
        assert_eq!(contents(page), ["q2", "a2"]);
        assert!(tree.switch_to(a2).is_empty());
    }

    #[test]
    fn two_questions_following_one_message_are_listed_oldest_first() {
        let mut chat = Chat::new();
        let (_, a1) = chat.legacy("q1", Some("a1"));
        chat.add(Role::User, "q2", a1, None);
        chat.add(Role::User, "q2 at the same moment", a1, None);
        let tree = chat.tree();
        assert_eq!(contents(tree.active()), ["q1", "a1", "q2", "q2 at the same moment"]);
    }

    #[test]
    fn a_branch_of_the_first_message_starts_a_second_root() {
        let mut chat = Chat::new();
        let (q1, _) = chat.legacy("q1", Some("a1"));
        let tree = chat.tree();
        let switch = tree.switch_to(None);
        assert_eq!(contents(&switch.off), ["q1", "a1"]);
        let q1b = chat.add(Role::User, "q1b", Some(ROOT_PARENT), None);
        let tree = chat.tree();
        let placement = tree.placement(q1b).unwrap();
        assert_eq!((placement.parent_id, placement.index, placement.count), (None, 2, 2));
        assert_eq!(placement.sibling_ids, vec![q1, q1b]);
    }

    #[test]
    fn a_stored_parent_that_is_missing_or_not_earlier_is_not_followed() {
        let mut chat = Chat::new();
        let q1 = chat.add(Role::User, "q1", None, None);
        // Names a message that is not in the chat: treated as written before the tree.
        let q2 = chat.add(Role::User, "q2", Some(Uuid::now_v7()), None);
        let tree = chat.tree();
        assert_eq!(tree.parent_of(q2), Some(q1));
        // Two records naming each other (damaged): the loop is cut, walks end.
        let mut chat = Chat::new();
        let first = chat.add(Role::User, "first", None, None);
        let second = chat.add(Role::User, "second", Some(first), None);
        chat.messages[0].parent_id = Some(second);
        let tree = chat.tree();
        assert_eq!(tree.parent_of(second), Some(first));
        assert_eq!(tree.parent_of(first), None);
        assert_eq!(contents(tree.path_to(second)), ["first", "second"]);
        assert_eq!(tree.newest_descendant(first).unwrap().id, second);
    }

    #[test]
    fn pages_follow_the_cursor_in_time_and_a_foreign_cursor_gives_nothing() {
        let mut chat = Chat::new();
        let ids: Vec<Uuid> = (0..5)
            .map(|n| chat.add(Role::User, &format!("m{n}"), None, None))
            .collect();
        let tree = chat.tree();
        let first = page_of(&tree, tree.active(), Page::first(2));
        assert_eq!(contents(first), ["m0", "m1"]);
        let next = page_of(
            &tree,
            tree.active(),
            Page {
                limit: 2,
                after: Some(ids[1]),
            },
        );
        assert_eq!(contents(next), ["m2", "m3"]);
        let foreign = Page {
            limit: 2,
            after: Some(Uuid::now_v7()),
        };
        assert!(page_of(&tree, tree.active(), foreign).is_empty());
    }
}
