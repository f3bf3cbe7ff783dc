//! Slack's answers to a webhook post, in words a person understands.
//!
//! Slack answers `200` with the body `ok` on success and otherwise a non-200 status with a
//! plain-text error code as the whole body
//! (<https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>).

use super::SlackResult;

/// Longest part of an unexpected answer quoted in an explanation.
const MAX_QUOTE: usize = 200;

/// Turn Slack's answer into a [`SlackResult`]. `status` is `None` when no answer came; `body`
/// then describes what went wrong (connection refused, ...).
pub fn explain(status: Option<u16>, body: &str) -> SlackResult {
    let Some(status) = status else {
        return SlackResult {
            ok: false,
            status: None,
            error: None,
            explanation: format!("Slack could not be reached: {}", quote(body)),
        };
    };
    let text = body.trim();
    if status == 200 {
        let explanation = if text == "ok" || text.is_empty() {
            "sent".to_string()
        } else {
            format!("sent (Slack answered: {})", quote(text))
        };
        return SlackResult {
            ok: true,
            status: Some(200),
            error: None,
            explanation,
        };
    }
    let code = error_code(text);
    let explanation = match code.and_then(describe) {
        Some(words) => format!("{words} (HTTP {status}, {})", code.unwrap_or_default()),
        None if status == 429 => format!(
            "Slack is rate limiting this webhook: too many messages too fast (HTTP 429{})",
            code.map(|c| format!(", {c}")).unwrap_or_default()
        ),
        None => match code {
            Some(code) => format!("Slack refused the message: {code} (HTTP {status})"),
            None if status >= 500 => format!("Slack had a server error (HTTP {status})"),
            None if text.is_empty() => format!("Slack refused the message (HTTP {status})"),
            None => format!("Slack refused the message (HTTP {status}): {}", quote(text)),
        },
    };
    SlackResult {
        ok: false,
        status: Some(status),
        error: code.map(str::to_string),
        explanation,
    }
}

/// A body that looks like one of Slack's error codes (`channel_not_found`).
fn error_code(text: &str) -> Option<&str> {
    let looks_like_code = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    looks_like_code.then_some(text)
}

/// Words for the error codes Slack documents (or clients have observed).
fn describe(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_payload" => {
            "Slack could not read the message: the JSON or its content type was wrong"
        }
        "invalid_blocks" | "invalid_blocks_format" => {
            "Slack rejected the message layout: a block is malformed or over a size limit"
        }
        "msg_blocks_too_long" => "Slack rejected the message: its blocks hold too much text",
        "no_text" | "missing_text_or_fallback_or_attachments" => {
            "Slack rejected the message: it has no text"
        }
        "too_many_attachments" => "Slack rejected the message: more than 100 attachments",
        "user_not_found" => "Slack rejected the message: a user it names does not exist",
        "channel_not_found" => {
            "The webhook's channel no longer exists, or the Slack app is not in that private \
             channel: add the app to the channel or create a new webhook"
        }
        "channel_is_archived" => {
            "The webhook's channel is archived: unarchive it or create a webhook for another \
             channel"
        }
        "action_prohibited" => {
            "A workspace admin has restricted posting to this channel, so Slack refused the \
             message"
        }
        "posting_to_general_channel_denied" => {
            "Only admins may post to this workspace's general channel"
        }
        "no_service" => {
            "This webhook is disabled, removed or invalid: create a new incoming webhook and \
             use its URL"
        }
        "no_service_id" => "The webhook URL is incomplete: copy the whole URL from Slack",
        "no_active_hooks" => "This webhook has been deactivated: create a new incoming webhook",
        "invalid_token" => {
            "The secret part of the webhook URL is invalid or revoked: create a new webhook"
        }
        "no_team" => "The Slack workspace of this webhook no longer exists",
        "team_disabled" => "The Slack workspace of this webhook is disabled",
        "rollup_error" => "Slack had an internal error (likely not your fault)",
        "rate_limited" => "Slack is rate limiting this webhook: too many messages too fast",
        _ => return None,
    })
}

/// Quoted text from the other side: one line, bounded, no control characters.
pub(crate) fn quote(text: &str) -> String {
    crate::port::summary::clean(text.trim(), MAX_QUOTE)
}
