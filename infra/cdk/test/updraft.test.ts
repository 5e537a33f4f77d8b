// The construct synthesizes offline into the stack the SAM template
// makes: the same resources, parameters turned into values, each
// function's code an asset, the outputs as properties.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Updraft, UpdraftProps } from '../lib';
import { TEMPLATE_FILE } from '../lib/updraft';

// One placeholder code directory for every synth, removed when the tests end.
const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-code-'));
fs.writeFileSync(path.join(codeDir, 'bootstrap'), 'placeholder');
after(() => fs.rmSync(codeDir, { recursive: true, force: true }));

function code(): UpdraftProps['code'] {
  return { planner: codeDir, dispatcher: codeDir, recorder: codeDir };
}

function synth(props: Partial<UpdraftProps> = {}): { stack: Stack; orchestrator: Updraft; template: Template } {
  const app = new App();
  const stack = new Stack(app, 'Team', { env: { account: '123456789012', region: 'eu-west-1' } });
  const orchestrator = new Updraft(stack, 'Orchestrator', {
    subnets: ['subnet-a', 'subnet-b'],
    securityGroups: ['sg-1'],
    code: code(),
    ...props,
  });
  return { stack, orchestrator, template: Template.fromStack(stack) };
}

const sam = JSON.parse(fs.readFileSync(TEMPLATE_FILE, 'utf8'));

test('every resource of the translated SAM template is in the stack', () => {
  const { template } = synth();
  const resources = template.toJSON().Resources as Record<string, { Type: string }>;
  const types = (all: Record<string, { Type: string }>) =>
    Object.values(all).map((r) => r.Type).sort();
  assert.deepEqual(types(resources), types(sam.Resources));
  assert.equal(template.toJSON().Transform, undefined);
});

test('the parameters become the props, with the template defaults', () => {
  const { template } = synth();
  const parameters = Object.keys(template.toJSON().Parameters ?? {});
  assert.deepEqual(parameters.filter((p) => !p.startsWith('BootstrapVersion')), []);
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
  template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  template.hasResourceProperties('AWS::DynamoDB::Table', {
    TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
  });
  template.hasResourceProperties('AWS::S3::Bucket', {
    LifecycleConfiguration: {
      Rules: Match.arrayWith([
        Match.objectLike({ Prefix: 'outputs/', ExpirationInDays: 400 }),
      ]),
    },
  });
  const functions = template.findResources('AWS::Lambda::Function');
  // The dashboard's too, made only with `dashboard: true`.
  assert.equal(Object.keys(functions).length, 4);
  assert.equal(functions.DashboardFunction.Condition, 'HasDashboard');
  for (const fn of Object.values(functions)) {
    const props = (fn as { Properties: Record<string, any> }).Properties;
    assert.equal(props.Runtime, 'provided.al2023');
    assert.deepEqual(props.Architectures, ['arm64']);
    assert.deepEqual(props.Environment.Variables.UPDRAFT_SUBNETS, {
      'Fn::Join': [',', ['subnet-a', 'subnet-b']],
    });
    assert.equal(props.Environment.Variables.UPDRAFT_ASSIGN_PUBLIC_IP, 'DISABLED');
    assert.deepEqual(props.Environment.Variables.UPDRAFT_TABLE, { Ref: 'StateTable' });
  }
});

test('each function runs its code asset as its own role', () => {
  const { template } = synth();
  const functions = template.findResources('AWS::Lambda::Function');
  const roles = new Set<string>();
  for (const [id, fn] of Object.entries(functions)) {
    const props = (fn as { Properties: Record<string, any> }).Properties;
    roles.add(JSON.stringify(props.Role));
    if (id === 'DashboardFunction') {
      continue;
    }
    assert.match(JSON.stringify(props.Code.S3Bucket), /cdk-.*-assets-/, id);
    assert.match(props.Code.S3Key, /\.zip$/, id);
  }
  assert.equal(roles.size, 4);
});

test('dashboard: true serves it from its own code, signing people in with the stack\'s user pool', () => {
  const dir = code().planner;
  const { template } = synth({ dashboard: true, code: { planner: dir, dispatcher: dir, recorder: dir, dashboard: dir } });
  const dashboard = template.findResources('AWS::Lambda::Function').DashboardFunction;
  assert.match(JSON.stringify(dashboard.Properties.Code.S3Bucket), /cdk-.*-assets-/);
  // The parameter is given as a value: the condition holds.
  assert.deepEqual(template.toJSON().Conditions.HasDashboard, { 'Fn::Equals': ['true', 'true'] });
  assert.throws(() => synth({ dashboard: true }), /needs code.dashboard/);
});

test('optional props turn on what they stand for', () => {
  const { template } = synth({
    alertEmail: 'oncall@example.com',
    watchedBuckets: ['lake', 'landing'],
    tickSchedule: 'rate(5 minutes)',
    assignPublicIp: true,
    logRetentionDays: 7,
    retentionDays: 90,
  });
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
  template.hasResourceProperties('AWS::SNS::Topic', {
    Subscription: [{ Protocol: 'email', Endpoint: 'oncall@example.com' }],
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: Match.objectLike({ detail: { bucket: { name: ['lake', 'landing'] } } }),
  });
  template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ UPDRAFT_RETENTION_DAYS: { 'Fn::Sub': '90' } }) },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ UPDRAFT_ASSIGN_PUBLIC_IP: 'ENABLED' }) },
  });
});

test('the outputs are properties', () => {
  const { stack, orchestrator } = synth();
  assert.deepEqual(stack.resolve(orchestrator.tableName), { Ref: 'StateTable' });
  assert.deepEqual(stack.resolve(orchestrator.taskQueueUrl), { Ref: 'TaskQueue' });
  assert.deepEqual(stack.resolve(orchestrator.bucketName), { Ref: 'SpecBucket' });
  assert.deepEqual(stack.resolve(orchestrator.sageMakerRoleArn), { 'Fn::GetAtt': ['SageMakerRole', 'Arn'] });
});
