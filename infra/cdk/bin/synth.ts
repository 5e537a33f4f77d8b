// Synthesizes a stack holding the construct, offline, for the deploy
// rehearsal: `node dist/bin/synth.js OUT_DIR STACK PROPS_JSON`, where
// PROPS_JSON is UpdraftProps as JSON. Writes OUT_DIR/STACK.template.json.
import { App, DefaultStackSynthesizer, Stack } from 'aws-cdk-lib';
import { Updraft } from '../lib';

const [outdir, stackName, propsJson] = process.argv.slice(2);
if (!outdir || !stackName || !propsJson) {
  console.error('usage: synth.js OUT_DIR STACK PROPS_JSON');
  process.exit(1);
}
const app = new App({ outdir });
const stack = new Stack(app, stackName, {
  // The assets go to the bootstrap bucket, as `cdk deploy` publishes them;
  // the rehearsal needs no bootstrap version check.
  synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
});
new Updraft(stack, 'Orchestrator', JSON.parse(propsJson));
app.synth();
