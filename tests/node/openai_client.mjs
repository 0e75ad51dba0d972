// The official Node SDK against artproxy, as tests/web/test_openai_clients.py asks:
//   node openai_client.mjs <scenario> '<JSON arguments>'
// with ARTPROXY_URL and ARTPROXY_KEY in the environment. Prints one JSON result; an error the
// SDK raised is printed as {"error": {status, code, param, name}}, so the test can assert on it.
import fs from 'node:fs';
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({
  baseURL: `${process.env.ARTPROXY_URL}/v1`,
  apiKey: process.env.ARTPROXY_KEY,
  maxRetries: 0,
});

const scenarios = {
  generate: (args) => client.images.generate(args),

  // A file from disk goes as a stream (chunked, no Content-Length); toFile gives a sized part.
  edit: async ({ path, streamed, ...args }) => client.images.edit({
    ...args,
    image: streamed ? fs.createReadStream(path) : await toFile(fs.readFileSync(path), 'in.png'),
  }),

  models: async ({ retrieve }) => ({
    listed: (await client.models.list()).data.map((model) => model.id),
    retrieved: (await client.models.retrieve(retrieve)).id,
  }),

  stream: async ({ edit_path, ...args }) => {
    const stream = edit_path
      ? await client.images.edit({ ...args, image: fs.createReadStream(edit_path), stream: true })
      : await client.images.generate({ ...args, stream: true });
    const events = [];
    for await (const event of stream) {
      events.push({ type: event.type, b64_json: event.b64_json, size: event.size,
                    partial_image_index: event.partial_image_index });
    }
    return { events };
  },

  variation: ({ path, ...args }) => client.images.createVariation({
    ...args, image: fs.createReadStream(path),
  }),
};

const [scenario, rawArguments] = process.argv.slice(2);
try {
  console.log(JSON.stringify(await scenarios[scenario](JSON.parse(rawArguments || '{}'))));
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  console.log(JSON.stringify({ error: {
    status: error.status ?? null, code: error.code ?? null, param: error.param ?? null,
    name: error.constructor.name, message: error.message,
  } }));
}
