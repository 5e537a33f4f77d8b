// The updraft stack as a CDK construct. It is built from the same
// definition as the SAM template: `template.json` beside this library is
// infra/template.yaml translated by the SAM translator (`make
// cdk-template` writes it; `make test` fails if it differs from a fresh
// translation), included as it is, with the template's parameters given
// as typed props and each function's code as an asset.
import * as path from 'path';
import { Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import { Construct } from 'constructs';

/** Where each function's code is: a directory or a zip holding its
 * `bootstrap` (`make lambdas` builds them as
 * target/lambda/<function>/bootstrap.zip). */
export interface FunctionCode {
  /** The planner. */
  readonly planner: string;
  /** The dispatcher. */
  readonly dispatcher: string;
  /** The recorder. */
  readonly recorder: string;
  /** The dashboard, when the stack serves it (`dashboard: true`). */
  readonly dashboard?: string;
}

/** The SAM template's parameters, typed; unset ones take its defaults. */
export interface UpdraftProps {
  /** Subnets for the ECS tasks' network interfaces (SubnetIds). */
  readonly subnets: string[];
  /** Security groups for the ECS tasks (SecurityGroupIds). */
  readonly securityGroups: string[];
  /** A public IP for each task, for subnets without a NAT gateway (AssignPublicIp). */
  readonly assignPublicIp?: boolean;
  /** The planner's safety tick, an EventBridge schedule expression (TickSchedule); between them it is woken when something is due. */
  readonly tickSchedule?: string;
  /** The runner task definition's image, for tasks that name none (RunnerImage). */
  readonly runnerImage?: string;
  /** How long the functions' and the runner's logs are kept (LogRetentionDays). */
  readonly logRetentionDays?: number;
  /** How long an ended run is kept when its DAG names no `retention` (RetentionDays). */
  readonly retentionDays?: number;
  /** An SNS topic told when a task message reaches the dead-letter queue (AlarmTopicArn). */
  readonly alarmTopicArn?: string;
  /** The bus updraft's own events go to (EventBusName). */
  readonly eventBusName?: string;
  /** Where the dashboard is served, for each event's link (UiUrl). */
  readonly uiUrl?: string;
  /** An address told of every failed run (AlertEmail). */
  readonly alertEmail?: string;
  /** An SNS topic told of every failed run (AlertTopicArn). */
  readonly alertTopicArn?: string;
  /** Buckets whose new objects start runs of DAGs with matching `artifact:` triggers (WatchedBuckets). */
  readonly watchedBuckets?: string[];
  /** Also tell the alert address and topic of each failed try (AlertOnFailedTries). */
  readonly alertOnFailedTries?: boolean;
  /** The ECR repositories (ARNs) tasks and training jobs may pull from; default every repository of the account (EcrRepositoryArns). */
  readonly ecrRepositoryArns?: string[];
  /** Roles a service-kind profile may name in `role:` besides those tagged updraft:stack=<this stack>, e.g. in other accounts (TaskRoleArns). */
  readonly taskRoleArns?: string[];
  /** Serve the dashboard to the team from a function URL, each person signed in (Dashboard); needs `code.dashboard`. */
  readonly dashboard?: boolean;
  /** Who signs people in: a user pool of the stack, or `external` (DashboardUsers). */
  readonly dashboardUsers?: 'create' | 'external';
  /** The external issuer's URL (DashboardIssuer). */
  readonly dashboardIssuer?: string;
  /** The dashboard's client id at the external issuer (DashboardClientId). */
  readonly dashboardClientId?: string;
  /** The SSM SecureString parameter keeping the external client's secret (DashboardClientSecretParameter). */
  readonly dashboardClientSecretParameter?: string;
  /** The ID token claim listing a person's groups (DashboardGroupsClaim). */
  readonly dashboardGroupsClaim?: string;
  /** The group whose members act; everyone else views (DashboardOperatorsGroup). */
  readonly dashboardOperatorsGroup?: string;
  /** The prefix of the user pool's sign-in domain (DashboardDomainPrefix). */
  readonly dashboardDomainPrefix?: string;
  /** The functions' code. */
  readonly code: FunctionCode;
}

/** The translated SAM template this construct includes. */
export const TEMPLATE_FILE = path.join(__dirname, '..', '..', 'template.json');

/** updraft: the state table, task queues, bucket, cluster, the three
 * functions and their rules, as `make deploy` creates them. */
export class Updraft extends Construct {
  /** The included template, for escape hatches. */
  public readonly template: CfnInclude;
  /** The state table (output TableName). */
  public readonly tableName: string;
  /** The task queue (output TaskQueueUrl). */
  public readonly taskQueueUrl: string;
  /** Specs and outputs (output BucketName). */
  public readonly bucketName: string;
  /** The ECS cluster (output ClusterName). */
  public readonly clusterName: string;
  /** The runner task definition (output RunnerTaskDefinition). */
  public readonly runnerTaskDefinition: string;
  /** The training jobs' role (output SageMakerRoleArn). */
  public readonly sageMakerRoleArn: string;
  /** The role service-kind profiles without `role:` run as (output ServiceKindsRoleArn). */
  public readonly serviceKindsRoleArn: string;
  /** The bus updraft's events go to (output EventBusName). */
  public readonly eventBusName: string;
  /** The read-only policy for people (output DashboardReadOnlyPolicyArn). */
  public readonly dashboardReadOnlyPolicyArn: string;
  /** The operator policy for people (output DashboardOperatorPolicyArn). */
  public readonly dashboardOperatorPolicyArn: string;

  constructor(scope: Construct, id: string, props: UpdraftProps) {
    super(scope, id);
    const optional = (value: string | undefined, fallback = '') => value ?? fallback;
    this.template = new CfnInclude(this, 'Template', {
      templateFile: TEMPLATE_FILE,
      parameters: {
        SubnetIds: props.subnets,
        SecurityGroupIds: props.securityGroups,
        AssignPublicIp: props.assignPublicIp ? 'ENABLED' : 'DISABLED',
        TickSchedule: optional(props.tickSchedule, 'rate(1 hour)'),
        RunnerImage: optional(props.runnerImage, 'public.ecr.aws/docker/library/python:3.12-slim'),
        LogRetentionDays: props.logRetentionDays ?? 30,
        RetentionDays: props.retentionDays ?? 400,
        AlarmTopicArn: optional(props.alarmTopicArn),
        EventBusName: optional(props.eventBusName, 'default'),
        UiUrl: optional(props.uiUrl),
        AlertEmail: optional(props.alertEmail),
        AlertTopicArn: optional(props.alertTopicArn),
        WatchedBuckets: props.watchedBuckets ?? [''],
        AlertOnFailedTries: props.alertOnFailedTries ? 'true' : 'false',
        EcrRepositoryArns: props.ecrRepositoryArns ?? [''],
        TaskRoleArns: props.taskRoleArns ?? [''],
        Dashboard: props.dashboard ? 'true' : 'false',
        DashboardUsers: props.dashboardUsers ?? 'create',
        DashboardIssuer: optional(props.dashboardIssuer),
        DashboardClientId: optional(props.dashboardClientId),
        DashboardClientSecretParameter: optional(props.dashboardClientSecretParameter),
        DashboardGroupsClaim: optional(props.dashboardGroupsClaim, 'cognito:groups'),
        DashboardOperatorsGroup: optional(props.dashboardOperatorsGroup, 'operators'),
        DashboardDomainPrefix: optional(props.dashboardDomainPrefix),
      },
    });
    if (props.dashboard && !props.code.dashboard) {
      throw new Error('dashboard: true needs code.dashboard (make lambdas builds it)');
    }
    const functions: [string, string][] = [
      ['PlannerFunction', props.code.planner],
      ['DispatcherFunction', props.code.dispatcher],
      ['RecorderFunction', props.code.recorder],
    ];
    if (props.code.dashboard) {
      functions.push(['DashboardFunction', props.code.dashboard]);
    }
    for (const [logicalId, codePath] of functions) {
      const asset = new s3assets.Asset(this, `${logicalId}Code`, { path: codePath });
      const fn = this.template.getResource(logicalId) as lambda.CfnFunction;
      fn.code = { s3Bucket: asset.s3BucketName, s3Key: asset.s3ObjectKey };
    }
    const output = (key: string) => Token.asString(this.template.getOutput(key).value);
    this.tableName = output('TableName');
    this.taskQueueUrl = output('TaskQueueUrl');
    this.bucketName = output('BucketName');
    this.clusterName = output('ClusterName');
    this.runnerTaskDefinition = output('RunnerTaskDefinition');
    this.sageMakerRoleArn = output('SageMakerRoleArn');
    this.serviceKindsRoleArn = output('ServiceKindsRoleArn');
    this.eventBusName = output('EventBusName');
    this.dashboardReadOnlyPolicyArn = output('DashboardReadOnlyPolicyArn');
    this.dashboardOperatorPolicyArn = output('DashboardOperatorPolicyArn');
  }
}
