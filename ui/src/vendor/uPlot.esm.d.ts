// Types for the copy of uPlot's ES module that build.mjs puts in dist/ui/vendor.
import uPlot from 'uplot';
export default uPlot;
