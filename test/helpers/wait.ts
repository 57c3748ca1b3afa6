export { waitFor } from '../../scripts/lab/wait-for';
