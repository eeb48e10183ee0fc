export * from './describe-inference-backend-contract.ts';
