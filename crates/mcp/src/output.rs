//! What a tool call answered, as text for the model: the text of each
//! content block in order (other kinds are named, not inlined), or the
//! structured content as JSON when there is no block. The tool loop bounds
//! it by `tools.result_bytes`, like every tool's result.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use worker_runtime::tools::{ToolFailure, ToolOutput};

/// The result, or the tool's own error (`isError`) as a failure.
pub(crate) fn from_result(result: CallToolResult) -> Result<ToolOutput, ToolFailure> {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    if parts.is_empty() {
        if let Some(value) = &result.structured_content {
            parts.push(value.to_string());
        }
    }
    let text = parts.join("\n");
    if result.is_error == Some(true) {
        let text = if text.is_empty() {
            "the tool reported an error".to_owned()
        } else {
            text
        };
        return Err(ToolFailure::Failed(text));
    }
    Ok(ToolOutput::text(text))
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!("[an image, {}]", image.mime_type),
        ContentBlock::Audio(audio) => format!("[audio, {}]", audio.mime_type),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents { uri, .. } => {
                format!("[a binary resource: {uri}]")
            }
            _ => "[a resource]".to_owned(),
        },
        ContentBlock::ResourceLink(resource) => format!("[a resource: {}]", resource.uri),
        _ => "[content of a kind yoi does not read]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_are_joined_and_an_error_is_a_failure() {
        let ok = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(from_result(ok).unwrap().text, "a\nb");
        let failed = CallToolResult::error(vec![ContentBlock::text("no such zone")]);
        assert_eq!(
            from_result(failed),
            Err(ToolFailure::Failed("no such zone".to_owned()))
        );
    }
}
