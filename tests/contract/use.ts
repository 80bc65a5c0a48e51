// Uses the types openapi-typescript generates from /api/openapi.json
// (infra/check-contract.sh): it compiles only while the document names these
// operations, schemas and fields as a client expects.
import type { components, operations, paths } from "./api";

type SendChat = components["schemas"]["SendChatRequest"];
type Sent = paths["/api/chats/"]["post"]["responses"][201]["content"]["application/json"];
type LoginBody = NonNullable<operations["postApiLogin"]["requestBody"]>["content"]["application/json"];
type Problem = components["schemas"]["ErrorBody"];

export const ask: SendChat = { content: "Hello", model: "flan-t5/flan-t5-small" };
export const zone: components["schemas"]["TimeZone"] = "Europe/Paris";
export const login: LoginBody = { username: "alice", password: "correct horse battery" };

export function replyText(sent: Sent): string {
  return `${sent.chat_id}: ${sent.reply.Bot}`;
}

export function describe(problem: Problem): string {
  return problem.field ? `${problem.code} (${problem.field})` : problem.code;
}
