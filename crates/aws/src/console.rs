//! Where a try's work is in the AWS console, from its handle alone: the
//! task panel links there, so a person looks at the job where its service
//! shows it.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::kinds;
use updraft_core::spec::ServiceKind;

fn enc(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// The console page of the work a handle names, in `region`; `None` where
/// the handle alone does not say (a Lambda invocation, a generic call).
pub fn url(handle: &str, region: &str) -> Option<String> {
    let home = |service: &str| {
        format!("https://{region}.console.aws.amazon.com/{service}/home?region={region}")
    };
    if let Some(rest) = handle.strip_prefix("arn:aws:ecs:") {
        // arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID
        let (_, task) = rest.split_once(":task/")?;
        let (cluster, id) = task.split_once('/')?;
        return Some(format!(
            "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/tasks/{}?region={region}",
            enc(cluster),
            enc(id)
        ));
    }
    let Some((kind, id)) = kinds::owner(handle) else {
        // A training job's name (it holds no `:`).
        return (!handle.contains(':'))
            .then(|| format!("{}#/jobs/{}", home("sagemaker"), enc(handle)));
    };
    let split = |id: &str| {
        id.rsplit_once('/')
            .map(|(a, b)| (a.to_string(), b.to_string()))
    };
    Some(match kind {
        ServiceKind::Glue => {
            let (job, run) = split(id)?;
            format!(
                "{}#/job/{}/run/{}",
                home("gluestudio"),
                enc(&job),
                enc(&run)
            )
        }
        ServiceKind::GlueCrawler => {
            let (name, _) = id.rsplit_once('@')?;
            format!(
                "{}#/v2/data-catalog/crawlers/view/{}",
                home("glue"),
                enc(name)
            )
        }
        ServiceKind::Athena => format!("{}#/query-editor/history/{}", home("athena"), enc(id)),
        ServiceKind::StepFunctions => {
            format!("{}#/v2/executions/details/{}", home("states"), enc(id))
        }
        ServiceKind::Batch => format!("{}#jobs/detail/{}", home("batch"), enc(id)),
        ServiceKind::EmrServerless => {
            let (app, run) = id.split_once('/')?;
            format!(
                "{}#/serverless/applications/{}/job-runs/{}",
                home("emr"),
                enc(app),
                enc(run)
            )
        }
        ServiceKind::SagemakerProcessing => {
            format!("{}#/processing-jobs/{}", home("sagemaker"), enc(id))
        }
        ServiceKind::Lambda | ServiceKind::Aws => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_handle_has_its_console_page() {
        let at = |handle: &str| url(handle, "eu-west-1");
        assert_eq!(
            at("glue:ingest/jr_123").as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/gluestudio/home?region=eu-west-1#/job/ingest/run/jr%5F123"
            )
        );
        assert_eq!(
            at("arn:aws:ecs:eu-west-1:1:task/updraft/abc").as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/updraft/tasks/abc?region=eu-west-1"
            )
        );
        assert!(
            at("states:arn:aws:states:eu-west-1:1:execution:m:updraft-x")
                .unwrap()
                .contains("#/v2/executions/details/arn%3Aaws%3Astates")
        );
        assert!(
            at("train-t-1-abc")
                .unwrap()
                .ends_with("#/jobs/train%2Dt%2D1%2Dabc")
        );
        assert!(
            at("glue-crawler:raw@1796574557000")
                .unwrap()
                .ends_with("crawlers/view/raw")
        );
        assert_eq!(at("lambda:outputs/d/r/t/1"), None);
    }
}
