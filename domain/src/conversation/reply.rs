//! The one reply pipeline (ARCHITECTURE.md): every route that gets a model's
//! answer, canonical or dialect, whole or streamed, stateful or OpenAI-style
//! stateless, runs these steps and nothing else does:
//!
//! 1. charge the user (before the model, so concurrent requests cannot overdraw);
//! 2. store the user's message (creating the chat), or find the replies a
//!    regeneration will supersede;
//! 3. select the context the model sees;
//! 4. call the model under the request's deadline, relaying pieces to a listener;
//! 5. store the reply, supersede the earlier versions, title a new chat with what
//!    is left of the deadline;
//! 6. on any failure before the reply is stored, refund once and name the kept
//!    message so the client can regenerate.
//!
//! The charge is a hold (`billing`): the reply's write ends it, a failure refunds
//! it, and one that neither could end (the store unreachable, the function killed)
//! is refunded once stale by the user's next charge (step 1 first settles those).
//!
//! `prepare` runs steps 1–3 and opens the model call, so a route can still answer
//! an error with a plain HTTP status; `Running::finish` runs the rest. Routes only
//! differ in the shapes they read and write.

use async_trait::async_trait;
use futures::StreamExt;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

use super::tree::Tree;
use super::{balance, new_message, owned_chat, ChatError, Conversations, Kept, Target};
use crate::billing::{self, Price};
use crate::llm::{context, title, Choice, Chunk, ChunkStream, GenerateRequest, ProviderError, Turn, Usage};
use crate::store::{Chat, Hold, Message, ReplyOutcome, Role, Settled, Spent, StoreError, User, ROOT_PARENT};

/// What the model is asked to answer.
// One per request and moved once: boxing the large variant would save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Ask {
    /// The user's new message to a chat (send, stream, the dialects' sends).
    Message { target: Target, content: String },
    /// A stored user message of `chat`, once more (regenerate, edit with
    /// regenerate); the earlier replies are kept as superseded versions. `edit`
    /// is the message's new content, saved only once the request is charged, so
    /// a refused charge (402) leaves the message as it was.
    Again {
        chat: Chat,
        question: Message,
        edit: Option<String>,
    },
    /// A new user message beside the stored user message `of` of `chat` (the same
    /// parent in the chat's `tree`): the branch through it becomes the active one,
    /// `of` and everything under it stay as they are (API.md §7, branches).
    Branch {
        chat: Chat,
        tree: Tree,
        of: Uuid,
        content: String,
    },
    /// A conversation the client holds and sends whole; nothing is stored
    /// (the OpenAI-compatible completions).
    Conversation { turns: Vec<Turn> },
}

/// One request for a reply.
pub struct Job {
    pub user: User,
    pub ask: Ask,
    pub choice: Choice,
    /// The client's cap on the reply's length, where its API has one.
    pub max_new_tokens: Option<u32>,
    /// The personal API key that asked, if one did: its usage is counted by key.
    pub key_id: Option<Uuid>,
}

/// How the model's answer is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The whole reply at once (`Provider::generate`).
    Whole,
    /// Piece by piece as the model writes it (`Provider::stream`).
    Streamed,
}

/// The chat a reply goes to, once its question is stored.
pub struct Stored {
    pub chat: Chat,
    /// True when this request started the chat.
    pub created: bool,
    /// The user message being answered.
    pub question: Message,
    /// Replies to `question` that the new one will supersede.
    earlier: Vec<Message>,
    /// The messages that followed `earlier`: they will follow the new reply.
    followers: Vec<Message>,
}

/// Where the reply's pieces go while the model writes them.
#[async_trait]
pub trait Listener: Send {
    /// Before the first piece; false when the client has already gone.
    async fn start(&mut self) -> bool {
        true
    }
    /// The next piece of the reply; false when the client has gone.
    async fn piece(&mut self, text: &str) -> bool;
    /// Whether a piece taken reached the client (a stream), or only the pipeline
    /// (a whole reply, sent once stored). Text that reached the client is paid for
    /// even when the reply is cut short (API.md §6).
    fn delivers(&self) -> bool {
        true
    }
}

/// A listener for routes that answer whole: the pipeline keeps the text itself.
pub struct Whole;

#[async_trait]
impl Listener for Whole {
    async fn piece(&mut self, _text: &str) -> bool {
        true
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// A reply under way: charged, its question stored, the model asked.
pub struct Running {
    conv: Conversations,
    user: User,
    /// The charge, until the reply's write or a refund ends it.
    hold: Hold,
    key_id: Option<Uuid>,
    choice: Choice,
    /// None for a conversation the client holds.
    pub stored: Option<Stored>,
    chunks: ChunkStream,
    deadline: Deadline,
}

/// A finished reply.
pub struct Replied {
    /// The chat, its question and the stored reply; none for a conversation the
    /// client holds.
    pub stored: Option<StoredReply>,
    pub text: String,
    pub usage: Usage,
    /// The client went away before the end: what reached it is kept (`partial`)
    /// and billed once; if nothing did, nothing is kept or billed.
    pub left: bool,
    /// The time limit passed after text had reached the client: the reply ends
    /// there, kept (`partial`) and billed, like one the client cut.
    pub cut: bool,
}

pub struct StoredReply {
    pub chat: Chat,
    pub created: bool,
    pub question: Message,
    pub reply: Message,
    pub tokens_remaining: i64,
}

/// The time a request's model work may take (`PROVIDER_TIMEOUT_SECS`): opening the
/// call, every piece, and the title after it.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    allowed: Duration,
}

impl Deadline {
    fn starting_now(allowed: Duration) -> Self {
        Self {
            at: Instant::now() + allowed,
            allowed,
        }
    }

    fn timed_out(&self) -> ProviderError {
        ProviderError::Timeout(format!(
            "The model did not answer within {} seconds.",
            self.allowed.as_secs()
        ))
    }
}

/// Steps 1–3 and the opening of the model call. Nothing is charged or stored when
/// this fails, except a question whose model then failed (named in the error).
pub async fn prepare(conv: &Conversations, job: Job, delivery: Delivery) -> Result<Running, ChatError> {
    let Job {
        user,
        ask,
        choice,
        max_new_tokens,
        key_id,
    } = job;
    // A chat that is someone else's is refused before anything is charged.
    let existing = match &ask {
        Ask::Message { target, .. } => Some(existing_chat(conv, &user, *target).await?),
        _ => None,
    };
    settle_stale_quietly(conv, &user).await;
    let price = Price {
        cost: conv.settings.tokens_per_request,
        pending_secs: conv.settings.pending_charge_secs,
    };
    let hold = billing::charge(conv.balances.as_ref(), user.id, price, conv.now()).await?;
    let begun = async {
        let cap = conv.settings.context_messages;
        // Each kind of question reads the chat once, and with it the history the
        // model sees: the path to the question, newest first.
        let (stored, history, turns) = match ask {
            Ask::Message { target, content } => {
                let (stored, history) = store_question(conv, &user, target, existing.flatten(), content, cap).await?;
                (Some(stored), history, None)
            }
            Ask::Again {
                chat,
                mut question,
                edit,
            } => {
                if let Some(content) = edit {
                    question.content = content;
                    question.edited_at = Some(conv.now());
                    conv.messages.update_message(&question).await?;
                }
                let tree = Tree::new(conv.messages.chat_messages(chat.id).await?);
                let (earlier, followers) = tree.answered_again(question.id);
                let mut history = tree.context_of(question.id, cap);
                // The question as edited, not as read.
                if let Some(first) = history.first_mut() {
                    *first = question.clone();
                }
                let stored = Stored {
                    chat,
                    created: false,
                    question,
                    earlier,
                    followers,
                };
                (Some(stored), history, None)
            }
            Ask::Branch {
                chat,
                tree,
                of,
                content,
            } => {
                let stored = store_branch(conv, chat, &tree, of, content).await?;
                let mut history = vec![stored.question.clone()];
                if let Some(parent) = tree.parent_of(of) {
                    history.extend(tree.context_of(parent, cap.saturating_sub(1)));
                }
                (Some(stored), history, None)
            }
            Ask::Conversation { turns } => (None, Vec::new(), Some(turns)),
        };
        let turns = match turns {
            Some(turns) => turns,
            None => context_of(&history, &choice, cap),
        };
        Ok::<_, ChatError>((stored, turns))
    }
    .await;
    let (stored, turns) = match begun {
        Ok(begun) => begun,
        Err(err) => {
            refund_quietly(conv, &hold).await;
            return Err(err);
        }
    };
    let request = GenerateRequest {
        model: choice.model.clone(),
        turns,
        max_new_tokens: Some(crate::llm::reply_tokens(max_new_tokens, conv.settings.max_reply_tokens)),
    };
    let deadline = Deadline::starting_now(Duration::from_secs(conv.settings.provider_timeout_secs));
    let mut running = Running {
        conv: conv.clone(),
        user,
        hold,
        key_id,
        choice,
        stored,
        chunks: Box::pin(futures::stream::empty()),
        deadline,
    };
    let provider = running.choice.provider.clone();
    running.chunks = match delivery {
        // The call starts when the first piece is awaited, under the same deadline.
        Delivery::Whole => Box::pin(
            futures::stream::once(async move { provider.generate(request).await }).flat_map(|result| {
                let items = match result {
                    Ok(generation) => vec![Ok(Chunk::Text(generation.text)), Ok(Chunk::Usage(generation.usage))],
                    Err(err) => vec![Err(err)],
                };
                futures::stream::iter(items)
            }),
        ),
        Delivery::Streamed => match tokio::time::timeout_at(deadline.at, provider.stream(request)).await {
            Ok(Ok(chunks)) => chunks,
            Ok(Err(err)) => return Err(running.fail(err).await),
            Err(_) => return Err(running.fail(deadline.timed_out()).await),
        },
    };
    Ok(running)
}

/// A whole reply in a stored chat: `prepare` and `finish` for the routes that
/// answer at once, with the chat part every such job has (`Ask::Message` and
/// `Ask::Again`), and the usage.
pub async fn whole_in_chat(conv: &Conversations, job: Job) -> Result<(StoredReply, Usage), ChatError> {
    let replied = prepare(conv, job, Delivery::Whole).await?.finish(&mut Whole).await?;
    let stored = replied.stored.ok_or_else(|| {
        ChatError::Store(StoreError::Internal(anyhow::anyhow!(
            "a reply in a chat came back without its chat"
        )))
    })?;
    Ok((stored, replied.usage))
}

impl Running {
    /// Steps 4–6: relays the model's pieces to `listener`, then stores the reply
    /// (whole, or as far as it got when the client left).
    pub async fn finish(mut self, listener: &mut dyn Listener) -> Result<Replied, ChatError> {
        let mut text = String::new();
        let mut usage = Usage::default();
        let mut left = !listener.start().await;
        // Whether any text reached the client, which then pays for it whoever cuts
        // the reply short: itself, the user deleting the chat, or a slow reader
        // stretching the stream past the time limit.
        let mut delivered = false;
        let mut cut = false;
        let mut failure = None;
        while !left {
            match tokio::time::timeout_at(self.deadline.at, self.chunks.next()).await {
                Ok(Some(Ok(Chunk::Text(piece)))) => {
                    text.push_str(&piece);
                    let reached = listener.piece(&piece).await;
                    delivered |= reached && listener.delivers();
                    left = !reached;
                }
                Ok(Some(Ok(Chunk::Usage(reported)))) => usage = reported,
                Ok(Some(Err(err))) => {
                    failure = Some(err);
                    break;
                }
                Ok(None) => break,
                Err(_) if delivered => {
                    cut = true;
                    break;
                }
                Err(_) => {
                    failure = Some(self.deadline.timed_out());
                    break;
                }
            }
        }
        // Stop the model at once if it is still writing.
        self.chunks = Box::pin(futures::stream::empty());
        if let Some(err) = failure {
            return Err(self.fail(err).await);
        }
        if left && !delivered {
            // The client left before any text reached it: nothing to pay for.
            refund_quietly(&self.conv, &self.hold).await;
            return Ok(Replied {
                stored: None,
                text,
                usage,
                left,
                cut,
            });
        }
        let Some(stored) = self.stored.take() else {
            // Nothing stores a conversation the client holds: the charge is kept
            // by ending its hold.
            match self.conv.balances.settle(&self.hold, &self.spent(usage)).await {
                Ok(Settled::Now) => {}
                Ok(Settled::Before) => return Err(unpaid()),
                // The text is ready: hand it over. Had the settle not landed, the
                // hold is refunded once stale, and this reply was free; the other
                // way round the user would pay for a reply never given.
                Err(err) => {
                    tracing::warn!(hold_id = %self.hold.id, error = %err, "a delivered reply's hold was not settled")
                }
            }
            return Ok(Replied {
                stored: None,
                text,
                usage,
                left,
                cut,
            });
        };
        let reply = reply_message(&self.conv, &self.choice, &stored, text.clone(), left || cut);
        match store_reply(&self.conv, &stored, &self.hold, &reply, &self.spent(usage)).await {
            Ok(()) => {}
            // The user deleted the chat (or the account) while its reply streamed:
            // the text that reached the client is paid for.
            Err(ChatError::NotFound) if delivered => {
                if let Err(err) = self.conv.balances.settle(&self.hold, &self.spent(usage)).await {
                    tracing::warn!(hold_id = %self.hold.id, error = %err, "a deleted chat's delivered reply was not settled: it is refunded when stale");
                }
                return Err(ChatError::NotFound);
            }
            Err(err) => {
                // Nothing the user can see later was stored: the charge goes back.
                // Unless the write did land and only its answer was lost (a store
                // that answered too late): then the refund finds the hold ended by
                // that write, and the reply is there to hand over.
                let found = match refund_quietly(&self.conv, &self.hold).await {
                    Some(Settled::Now) => Ok(false),
                    Some(Settled::Before) => self
                        .conv
                        .messages
                        .message(stored.chat.id, reply.id)
                        .await
                        .map(|m| m.is_some()),
                    None => Err(StoreError::Unavailable("the refund's outcome is unknown".into())),
                };
                match found {
                    Ok(true) => {
                        tracing::warn!(reply_id = %reply.id, "a reply's write landed although its answer was lost")
                    }
                    Ok(false) => return Err(err),
                    // The store cannot say whether the reply landed: the client is
                    // told where to look before it asks again.
                    Err(_) => {
                        return Err(ChatError::ReplyUnsure {
                            kept: Kept {
                                chat_id: stored.chat.id,
                                message_id: stored.question.id,
                            },
                            reply_id: reply.id,
                        })
                    }
                }
            }
        }
        let Stored {
            mut chat,
            created,
            question,
            ..
        } = stored;
        if chat.title.is_none() {
            let named = title::generate(self.choice.provider.as_ref(), &self.choice.model, &question.content);
            let title = tokio::time::timeout_at(self.deadline.at, named)
                .await
                .unwrap_or_else(|_| title::first_words(&question.content));
            chat.title = Some(title);
            // The reply is stored and paid for: a title that cannot be saved now
            // does not turn it into a failure (the chat stays untitled).
            if let Err(err) = self.conv.chats.update_chat(&chat).await {
                tracing::warn!(chat_id = %chat.id, error = %err, "the chat's title was not saved");
            }
        }
        let tokens_remaining = balance(self.conv.accounts.as_ref(), &self.user).await?;
        Ok(Replied {
            stored: Some(StoredReply {
                chat,
                created,
                question,
                reply,
                tokens_remaining,
            }),
            text,
            usage,
            left,
            cut,
        })
    }

    /// The model failed: the charge goes back (once), a new chat is titled from its
    /// first words, and the error names the kept question for a later regenerate.
    /// What the charge bought, for the usage: this model, this key, these tokens.
    fn spent(&self, usage: Usage) -> Spent {
        Spent {
            at: self.conv.now(),
            provider: self.choice.provider.id().to_string(),
            model: self.choice.model.clone(),
            key_id: self.key_id,
            prompt_tokens: i64::from(usage.prompt_tokens),
            completion_tokens: i64::from(usage.completion_tokens),
        }
    }

    async fn fail(mut self, error: ProviderError) -> ChatError {
        let provider = self.choice.provider.id().to_string();
        tracing::warn!(%provider, %error, "model call failed");
        refund_quietly(&self.conv, &self.hold).await;
        let kept = match self.stored.as_mut() {
            Some(stored) => {
                if stored.chat.title.is_none() {
                    stored.chat.title = Some(title::first_words(&stored.question.content));
                    if let Err(err) = self.conv.chats.update_chat(&stored.chat).await {
                        return err.into();
                    }
                }
                Some(Kept {
                    chat_id: stored.chat.id,
                    message_id: stored.question.id,
                })
            }
            None => None,
        };
        ChatError::Model { provider, error, kept }
    }
}

/// Stores the model's reply to the question as its current version, superseding
/// the earlier ones, unless another reply to it was stored since it was read (two
/// regenerations at once: the first to finish wins, the other is `ReplyRaced`).
async fn store_reply(
    conv: &Conversations,
    stored: &Stored,
    hold: &Hold,
    reply: &Message,
    spent: &Spent,
) -> Result<(), ChatError> {
    let current: Vec<Message> = stored.earlier.iter().filter(|m| !m.superseded).cloned().collect();
    match conv
        .messages
        .add_reply(reply, &stored.question, &current, &stored.followers, hold, spent)
        .await?
    {
        ReplyOutcome::Stored => Ok(()),
        ReplyOutcome::Raced => Err(ChatError::ReplyRaced),
        ReplyOutcome::QuestionGone => Err(ChatError::NotFound),
        ReplyOutcome::Unpaid => Err(unpaid()),
    }
}

/// The model's answer to the stored question, as it will be stored; `partial`
/// marks one cut short after text reached the client.
fn reply_message(conv: &Conversations, choice: &Choice, stored: &Stored, text: String, partial: bool) -> Message {
    let mut reply = new_message(stored.chat.id, Role::Assistant, text, conv.now());
    reply.partial = partial;
    reply.provider = Some(choice.provider.id().to_string());
    reply.model = Some(choice.model.clone());
    reply.reply_to = Some(stored.question.id);
    reply.parent_id = Some(stored.question.id);
    reply
}

/// The chat a message to `target` continues, if it exists; someone else's is
/// `NotFound`.
async fn existing_chat(conv: &Conversations, user: &User, target: Target) -> Result<Option<Chat>, ChatError> {
    Ok(match target {
        Target::Open => conv.chats.open_chat(user.id).await?,
        Target::Id(id) => match conv.chats.chat(id).await? {
            Some(chat) if chat.user_id == user.id => Some(chat),
            Some(_) => return Err(ChatError::NotFound),
            None => None,
        },
        Target::Existing(id) => Some(owned_chat(conv.chats.as_ref(), user, id).await?),
    })
}

/// Stores `content` as the user's next message, creating the chat if needed; it
/// follows the newest message of the chat's active branch. Also answers the
/// context the model may see: the question and the `cap` messages before it,
/// newest first (read once, before the question is stored).
async fn store_question(
    conv: &Conversations,
    user: &User,
    target: Target,
    existing: Option<Chat>,
    content: String,
    cap: usize,
) -> Result<(Stored, Vec<Message>), ChatError> {
    let now = conv.now();
    let (chat, created, before) = match existing {
        Some(chat) => {
            let before = conv.messages.recent_messages(chat.id, None, cap).await?;
            (chat, false, before)
        }
        None => {
            let (chat, created) = create_chat(conv, user, target, now).await?;
            // A chat another request created a moment ago may have messages already.
            let before = if created {
                Vec::new()
            } else {
                conv.messages.recent_messages(chat.id, None, cap).await?
            };
            (chat, created, before)
        }
    };
    // The active branch's end among the newest messages: the question follows it,
    // and the model sees the path to it (a regenerated reply is newer than what
    // followed it, so time alone would put it last).
    let recent = Tree::new(before);
    let leaf = recent.leaf().map(|m| m.id);
    let mut question = new_message(chat.id, Role::User, content, now);
    question.parent_id = Some(leaf.unwrap_or(ROOT_PARENT));
    conv.messages.add_message(&question).await?;
    let mut history = vec![question.clone()];
    if let Some(leaf) = leaf {
        history.extend(recent.context_of(leaf, cap.saturating_sub(1)));
    }
    Ok((
        Stored {
            chat,
            created,
            question,
            earlier: Vec::new(),
            followers: Vec::new(),
        },
        history,
    ))
}

/// Stores `content` as a new user message beside `of` (same parent) and makes the
/// branch ending in it the active one, in one step; `of` and what is under it are
/// kept, off the active branch.
async fn store_branch(
    conv: &Conversations,
    chat: Chat,
    tree: &Tree,
    of: Uuid,
    content: String,
) -> Result<Stored, ChatError> {
    let parent = tree.parent_of(of);
    let mut question = new_message(chat.id, Role::User, content, conv.now());
    question.parent_id = Some(parent.unwrap_or(ROOT_PARENT));
    let switch = tree.switch_to(parent);
    if !conv
        .messages
        .switch_branch(chat.id, Some(&question), &switch.on, &switch.off)
        .await?
    {
        return Err(super::chats::branch_moved(conv.chats.as_ref(), &chat).await);
    }
    Ok(Stored {
        chat,
        created: false,
        question,
        earlier: Vec::new(),
        followers: Vec::new(),
    })
}

async fn create_chat(
    conv: &Conversations,
    user: &User,
    target: Target,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Chat, bool), ChatError> {
    let id = match target {
        Target::Id(id) | Target::Existing(id) => id,
        Target::Open => uuid::Uuid::now_v7(),
    };
    let chat = Chat {
        id,
        user_id: user.id,
        number: conv.chats.next_chat_number(user.id).await?,
        title: None,
        created_at: now,
        end_time: None,
    };
    match conv.chats.create_chat(&chat).await {
        Ok(()) => Ok((chat, true)),
        // Another request created it a moment ago: use it if it is this user's.
        Err(StoreError::Conflict { field: "chat_id" }) => Ok((owned_chat(conv.chats.as_ref(), user, id).await?, false)),
        Err(err) => Err(err.into()),
    }
}

/// The turns the model sees: of `history` (the question and the messages before
/// it on the active branch, newest first), the newest ones within the model's
/// input budget.
fn context_of(history: &[Message], choice: &Choice, cap: usize) -> Vec<Turn> {
    let provider = choice.provider.as_ref();
    let history: Vec<Turn> = history
        .iter()
        .map(|m| Turn {
            role: m.role,
            content: m.content.clone(),
        })
        .collect();
    context::select(&history, provider.input_budget(&choice.model), cap, |text| {
        provider.count_tokens(text)
    })
}

/// Gives the charge of a failed request back. When the store refuses even that, the
/// hold stays and is refunded once stale: the money is never lost, only late.
async fn refund_quietly(conv: &Conversations, hold: &Hold) -> Option<Settled> {
    let refunded = billing::refund(conv.balances.as_ref(), hold).await;
    if let Err(err) = &refunded {
        tracing::error!(
            user_id = %hold.user_id,
            hold_id = %hold.id,
            cost = hold.cost,
            stale_at = %hold.stale_at,
            error = %err,
            "refund after a failed request did not go through: it is made once the hold is stale"
        );
    }
    refunded.ok()
}

/// Refunds what earlier failures left pending before the user is charged again; a
/// store that cannot do it now will be asked again by a later request.
async fn settle_stale_quietly(conv: &Conversations, user: &User) {
    if let Err(err) = billing::settle_stale(conv.balances.as_ref(), user.id, conv.now()).await {
        tracing::warn!(user_id = %user.id, error = %err, "stale holds were not settled");
    }
}

/// The reply outlived its hold, which was refunded as stale meanwhile: nothing was
/// stored or charged, and the client may ask again.
fn unpaid() -> ChatError {
    ChatError::Store(StoreError::Unavailable(
        "the reply's charge was refunded as stale before the reply was stored".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::ReplySettings;
    use crate::llm::{Generation, Provider};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Accounts, Chats};
    use std::sync::Arc;

    /// Answers at once; what else it does is the test's.
    struct Model {
        store: Arc<SqliteStore>,
        /// Deletes the asking user's chats while it writes.
        delete_chats_of: Option<uuid::Uuid>,
        /// How long a title takes.
        title_takes: Duration,
    }

    #[async_trait]
    impl Provider for Model {
        fn id(&self) -> &str {
            "model"
        }
        fn models(&self) -> Vec<String> {
            vec!["m".into()]
        }
        async fn is_available(&self) -> bool {
            true
        }
        fn input_budget(&self, _: &str) -> usize {
            512
        }
        async fn generate(&self, _: GenerateRequest) -> Result<Generation, ProviderError> {
            if let Some(user) = self.delete_chats_of {
                self.store.delete_chats_of(user).await.unwrap();
            }
            Ok(Generation {
                text: "an answer".into(),
                usage: Usage::default(),
            })
        }
        async fn title(&self, _: &str, _: &str) -> Result<String, ProviderError> {
            tokio::time::sleep(self.title_takes).await;
            Ok("A Title From The Model".into())
        }
    }

    async fn setup(
        model: impl FnOnce(Arc<SqliteStore>, uuid::Uuid) -> Model,
    ) -> (Conversations, Arc<SqliteStore>, User, Choice) {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let user = User {
            id: uuid::Uuid::now_v7(),
            username: "alice".into(),
            email: None,
            password_hash: "x".into(),
            date_joined: chrono::Utc::now(),
            is_active: true,
            is_admin: false,
            time_zone: None,
            tokens: 1000,
            spent: 0,
            requests: 0,
        };
        store.create_user(&user).await.unwrap();
        let provider: Arc<dyn Provider> = Arc::new(model(store.clone(), user.id));
        let choice = Choice {
            provider: provider.clone(),
            model: "m".into(),
        };
        // Built from the store's roles alone: the pipeline needs no function state.
        let conversations = Conversations {
            accounts: store.clone(),
            chats: store.clone(),
            messages: store.clone(),
            balances: store.clone(),
            clock: Arc::new(chrono::Utc::now),
            settings: ReplySettings {
                tokens_per_request: 100,
                pending_charge_secs: 900,
                context_messages: 20,
                max_reply_tokens: 1024,
                provider_timeout_secs: 1,
            },
        };
        (conversations, store, user, choice)
    }

    fn send(user: &User, choice: &Choice, content: &str) -> Job {
        Job {
            user: user.clone(),
            ask: Ask::Message {
                target: Target::Open,
                content: content.into(),
            },
            choice: choice.clone(),
            max_new_tokens: None,
            key_id: None,
        }
    }

    #[tokio::test]
    async fn a_reply_that_cannot_be_stored_is_refunded() {
        let (conv, store, user, choice) = setup(|store, user| Model {
            store,
            delete_chats_of: Some(user),
            title_takes: Duration::ZERO,
        })
        .await;
        // The chat is gone by the time the reply is stored: nothing is written, the
        // answer is the chat's 404, and the user does not pay for an answer nobody keeps.
        let err = prepare(&conv, send(&user, &choice, "hello there"), Delivery::Whole)
            .await
            .unwrap()
            .finish(&mut Whole)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ChatError::NotFound), "{err:?}");
        assert_eq!(balance(store.as_ref(), &user).await.unwrap(), 1000);
    }

    #[tokio::test]
    async fn a_title_that_outlasts_the_deadline_is_the_first_words() {
        let (conv, store, user, choice) = setup(|store, _| Model {
            store,
            delete_chats_of: None,
            title_takes: Duration::from_secs(5),
        })
        .await;
        let replied = prepare(
            &conv,
            send(&user, &choice, "how do I bake a loaf of bread"),
            Delivery::Whole,
        )
        .await
        .unwrap()
        .finish(&mut Whole)
        .await
        .unwrap();
        let stored = replied.stored.unwrap();
        assert_eq!(stored.chat.title.as_deref(), Some("how do I bake a"));
        assert_eq!(stored.reply.content, "an answer");
        assert_eq!(stored.tokens_remaining, 1000 - conv.settings.tokens_per_request);
        let kept = store.chat(stored.chat.id).await.unwrap().unwrap();
        assert_eq!(kept.title.as_deref(), Some("how do I bake a"));
    }

    #[tokio::test]
    async fn a_message_to_an_existing_chat_that_is_gone_is_not_found_and_free() {
        let (conv, store, user, choice) = setup(|store, _| Model {
            store,
            delete_chats_of: None,
            title_takes: Duration::ZERO,
        })
        .await;
        let job = Job {
            ask: Ask::Message {
                target: Target::Existing(uuid::Uuid::now_v7()),
                content: "hello".into(),
            },
            ..send(&user, &choice, "")
        };
        let err = prepare(&conv, job, Delivery::Whole).await.err().unwrap();
        assert!(matches!(err, ChatError::NotFound), "{err:?}");
        assert_eq!(balance(store.as_ref(), &user).await.unwrap(), 1000);
        assert!(store.open_chat(user.id).await.unwrap().is_none(), "no chat was made");
    }

    #[tokio::test]
    async fn a_quick_title_is_the_models() {
        let (conv, _, user, choice) = setup(|store, _| Model {
            store,
            delete_chats_of: None,
            title_takes: Duration::ZERO,
        })
        .await;
        let replied = prepare(&conv, send(&user, &choice, "bread"), Delivery::Whole)
            .await
            .unwrap()
            .finish(&mut Whole)
            .await
            .unwrap();
        assert_eq!(
            replied.stored.unwrap().chat.title.as_deref(),
            Some("A Title From The Model")
        );
    }
}
