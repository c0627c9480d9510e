// expect TS2322: deleteEnvironment gets the env id, a string
import type { Handler } from 'relay-autoconfig';
export const handler: Handler = {
  addEnvironment: () => {},
  updateEnvironment: () => {},
  deleteEnvironment: (envId: number) => console.log(envId + 1),
  receivedAllEnvironments: () => {},
  keyExpired: () => {},
};
