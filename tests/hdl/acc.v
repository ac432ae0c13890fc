// Test module for the Verilator harness: y[i] = x[0] + ... + x[i] for i < p_n; ret = the whole sum.
// Two cycles per element (address, then data); done rises one cycle after the last write.
// Expected: cycles = 2 * p_n + 1.
module acc (
    clk,
    rst,
    start,
    done,
    p_n,
    ret,
    m_x_addr0,
    m_x_rdata0,
    m_y_addr0,
    m_y_wdata0,
    m_y_we0
);

input clk;
input rst;
input start;
output done;
reg done;
input [4:0] p_n;
output signed [15:0] ret;
reg signed [15:0] ret;
output [3:0] m_x_addr0;
reg [3:0] m_x_addr0;
input signed [7:0] m_x_rdata0;
output [3:0] m_y_addr0;
reg [3:0] m_y_addr0;
output signed [15:0] m_y_wdata0;
reg signed [15:0] m_y_wdata0;
output m_y_we0;
reg m_y_we0;

reg [1:0] state;
reg [4:0] i;
wire signed [15:0] sum;

assign sum = (ret + m_x_rdata0);

always @(posedge clk) begin: ACC_FSM
    if (rst == 1) begin
        state <= 0;
        done <= 0;
        ret <= 0;
        i <= 0;
        m_x_addr0 <= 0;
        m_y_addr0 <= 0;
        m_y_wdata0 <= 0;
        m_y_we0 <= 0;
    end
    else begin
        m_y_we0 <= 0;
        case (state)
            2'd0: begin
                if (start) begin
                    done <= 0;
                    ret <= 0;
                    i <= 0;
                    m_x_addr0 <= 0;
                    state <= (p_n == 0) ? 2'd3 : 2'd1;
                end
            end
            2'd1: begin
                state <= 2'd2;
            end
            2'd2: begin
                ret <= sum;
                m_y_addr0 <= i[3:0];
                m_y_wdata0 <= sum;
                m_y_we0 <= 1;
                i <= (i + 1);
                m_x_addr0 <= (i[3:0] + 1);
                state <= ((i + 1) == p_n) ? 2'd3 : 2'd1;
            end
            default: begin
                done <= 1;
                state <= 2'd0;
            end
        endcase
    end
end

endmodule
