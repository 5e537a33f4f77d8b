export { Updraft, UpdraftProps, FunctionCode } from './updraft';
